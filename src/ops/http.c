/* http.c - the operations HTTP listener (http.h). */
#include "http.h"

#include <string.h>

struct route {
    const char *path;
    http_handler *fn;
};

static struct route routes[HTTP_ROUTES];
static size_t nroutes;

void http_route(const char *path, http_handler *fn)
{
    if (nroutes < HTTP_ROUTES)
        routes[nroutes++] = (struct route){path, fn};
}

const char *http_query_param(const struct http_request *req, const char *name,
                             char *buf, size_t buflen)
{
    (void)req;
    (void)name;
    (void)buf;
    (void)buflen;
    return NULL;
}
