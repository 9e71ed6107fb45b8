/* http.h - the operations HTTP listener: a small HTTP/1.1 server on the event
 * loop for /healthz, /metrics, the web console and its JSON.
 *
 * It accepts GET and HEAD only, parses requests with Debian's http_parser
 * (libhttp-parser-dev), enforces its own limits (header bytes, URL length,
 * request time, idle keep-alive time, connection count), checks requirepass
 * (HTTP Basic or a bearer token) and hands each request to the handler
 * registered for its exact path. Keep-alive and pipelining work; error replies
 * carry a short text body and close the connection.
 *
 * It is not a general web server: no request bodies, no chunked uploads, no
 * TLS, no path prefixes or patterns, no streaming responses. The RESP side
 * (net.h) knows nothing of it. Settings and limits: docs/operations.md. */
#ifndef TINCAN_HTTP_H
#define TINCAN_HTTP_H

#include <stddef.h>

#include <sys/uio.h>

#include "sbuf.h"

struct http_request {
    const char *method; /* "GET", "HEAD" (only these reach handlers) */
    const char *path;   /* percent-decoded path without the query, NUL-terminated */
    const char *query;  /* raw query string after '?', "" if none */
};

struct http_response {
    int status;               /* set to 200 before the handler runs */
    const char *content_type; /* static string; default "text/plain; charset=utf-8" */
    const char *cache_control;/* static string or NULL (then "no-store") */
    struct sbuf body;         /* the handler appends the body (HEAD: sent without it) */
    /* NULL: body is freed once sent. Else called with body instead, once the
     * listener is done with it (sent, or its connection gone): a handler with
     * large replies may keep the memory for its next one. */
    void (*release)(struct sbuf *body);
    /* Or the body as nparts pieces the handler keeps (body is then unused):
     * sent in order without a copy. release_parts(parts_ctx) is called once
     * the listener is done with them (sent, or the connection gone); the
     * array and what it points to must stay as they are until then. */
    const struct iovec *parts;
    size_t nparts;
    void (*release_parts)(void *ctx);
    void *parts_ctx;
};

/* Runs on the loop thread, synchronously; must not block. It fills res; the
 * request's strings are valid only during the call. */
typedef void http_handler(const struct http_request *req, struct http_response *res);

/* Registers the handler of GET and HEAD on exactly `path` ("/metrics"). Call from
 * http_routes_register() only. At most HTTP_ROUTES routes. */
#define HTTP_ROUTES 32
void http_route(const char *path, http_handler *fn);

/* The value of query parameter `name` percent-decoded into buf (NUL-terminated),
 * or NULL if absent or longer than buflen-1. */
const char *http_query_param(const struct http_request *req, const char *name,
                             char *buf, size_t buflen);

/* src/ops/routes.c holds the one function below; each feature adds one line to it. */
void http_routes_register(void);

#endif
