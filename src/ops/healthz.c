/* healthz.c - the liveness route (healthz.h). */
#include "healthz.h"

void healthz_handle(const struct http_request *req, struct http_response *res)
{
    (void)req;
    sbuf_adds(&res->body, "ok\n");
}
